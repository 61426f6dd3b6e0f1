"""The service directory: HSDS 3.1 tables with Relay's extensions, the referral-needs
taxonomy (English and French) and capacity units.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:57:46.456806+00:00
"""

import uuid
from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stable ids: the same taxonomy and terms on every installation, so partners can rely on them.
RELAY_TAXONOMY_ID = uuid.UUID("6f1c9a52-6d1e-4f0e-9d55-0b5e1a7c2f10")
REFERRAL_NEEDS = [
    (
        "emergency-police",
        "Emergency police response",
        "Intervention policière d'urgence",
        "Immediate protection by the police: danger now, a crime to report.",
    ),
    (
        "medical-care",
        "Medical care",
        "Soins médicaux",
        "Treatment of injuries and other medical needs.",
    ),
    (
        "post-rape-care",
        "Post-rape clinical care (within 72 hours)",
        "Prise en charge clinique du viol (dans les 72 heures)",
        "Emergency contraception, HIV post-exposure prophylaxis and forensic care: "
        "within 72 hours.",
    ),
    (
        "psychosocial-support",
        "Mental health and psychosocial support",
        "Santé mentale et soutien psychosocial",
        "Counselling, psychological first aid, therapy.",
    ),
    (
        "safe-shelter",
        "Safe shelter",
        "Hébergement sécurisé",
        "A safe place to stay for a survivor and, where needed, her children.",
    ),
    (
        "legal-aid",
        "Legal aid and access to justice",
        "Aide juridique et accès à la justice",
        "Legal advice, representation and help with complaints and courts.",
    ),
    (
        "child-protection-case-management",
        "Child protection case management",
        "Gestion de cas de protection de l'enfant",
        "A case worker who assesses, plans and follows up a child's protection.",
    ),
    (
        "family-support",
        "Family support and mediation",
        "Soutien familial et médiation",
        "Family tracing, mediation, parenting support and reunification.",
    ),
    (
        "anti-trafficking",
        "Anti-trafficking assistance",
        "Assistance contre la traite",
        "Identification, protection and assistance for victims of trafficking.",
    ),
    (
        "reintegration",
        "Repatriation and reintegration",
        "Rapatriement et réintégration",
        "Safe return home and support to rebuild a life.",
    ),
    (
        "education-literacy",
        "Education and literacy",
        "Éducation et alphabétisation",
        "Schooling, catch-up classes and literacy.",
    ),
    (
        "livelihoods",
        "Socio-professional integration and livelihoods",
        "Insertion socioprofessionnelle et moyens de subsistance",
        "Vocational training, income-generating activities, employment.",
    ),
    (
        "early-childhood",
        "Early childhood development",
        "Développement de la petite enfance",
        "Care and early learning for young children.",
    ),
    (
        "maternal-infant-health",
        "Maternal and infant health",
        "Santé maternelle et infantile",
        "Antenatal and postnatal care, delivery, care of infants.",
    ),
    (
        "helpline",
        "Helplines and information",
        "Lignes d'écoute et information",
        "Telephone helplines and information services, often free and national.",
    ),
]
UNITS = ["bed", "place", "appointment"]


def upgrade() -> None:
    op.create_table(
        "admin_area",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["admin_area.id"], name=op.f("fk_admin_area_parent_id_admin_area")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_area")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_admin_area_source_source_id")),
    )
    op.create_index(
        "ix_admin_area_geom", "admin_area", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_admin_area_level"), "admin_area", ["level"], unique=False)
    op.create_index(op.f("ix_admin_area_parent_id"), "admin_area", ["parent_id"], unique=False)
    op.create_table(
        "metadata",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column(
            "last_action_date",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_action_type", sa.Text(), nullable=False),
        sa.Column("field_name", sa.Text(), nullable=False),
        sa.Column("previous_value", sa.Text(), nullable=False),
        sa.Column("replacement_value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata")),
    )
    op.create_index(
        "ix_metadata_resource", "metadata", ["resource_type", "resource_id"], unique=False
    )
    op.create_table(
        "taxonomy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy")),
        sa.UniqueConstraint("name", name=op.f("uq_taxonomy_name")),
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=True),
        sa.Column("identifier", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("name", name=op.f("uq_unit_name")),
    )
    op.create_table(
        "location",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("location_type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("alternate_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("transportation", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column(
            "point",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            sa.Computed(
                "CASE WHEN latitude IS NULL THEN NULL ELSE "
                "ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("external_identifier", sa.Text(), nullable=True),
        sa.Column("external_identifier_type", sa.Text(), nullable=True),
        sa.Column("region_key", sa.Text(), nullable=True),
        sa.Column("admin_area_id", sa.Uuid(), nullable=True),
        sa.Column("visibility", sa.Text(), server_default="public", nullable=False),
        sa.Column(
            "translations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_modified",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "location_type IN ('physical', 'postal', 'virtual')",
            name=op.f("ck_location_location_type"),
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'partners', 'confidential')",
            name=op.f("ck_location_visibility"),
        ),
        sa.CheckConstraint(
            "(latitude IS NULL) = (longitude IS NULL)", name=op.f("ck_location_both_coordinates")
        ),
        sa.CheckConstraint(
            "latitude IS NULL OR latitude BETWEEN -90 AND 90", name=op.f("ck_location_latitude")
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR longitude BETWEEN -180 AND 180",
            name=op.f("ck_location_longitude"),
        ),
        sa.ForeignKeyConstraint(
            ["admin_area_id"], ["admin_area.id"], name=op.f("fk_location_admin_area_id_admin_area")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_location_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_location_source_source_id")),
    )
    op.create_index(op.f("ix_location_admin_area_id"), "location", ["admin_area_id"], unique=False)
    op.create_index(op.f("ix_location_last_modified"), "location", ["last_modified"], unique=False)
    op.create_index(
        op.f("ix_location_organization_id"), "location", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_location_point", "location", ["point"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_location_region_key"), "location", ["region_key"], unique=False)
    op.create_table(
        "service",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("alternate_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("application_process", sa.Text(), nullable=True),
        sa.Column("fees_description", sa.Text(), nullable=True),
        sa.Column("eligibility_description", sa.Text(), nullable=True),
        sa.Column("minimum_age", sa.Integer(), nullable=True),
        sa.Column("maximum_age", sa.Integer(), nullable=True),
        sa.Column(
            "genders",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "target_groups",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("accepts_referrals", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("intake_channel", sa.Text(), nullable=True),
        sa.Column("visibility", sa.Text(), server_default="public", nullable=False),
        sa.Column(
            "translations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_modified",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'defunct', 'temporarily closed')",
            name=op.f("ck_service_status"),
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'partners', 'confidential')",
            name=op.f("ck_service_visibility"),
        ),
        sa.CheckConstraint(
            "minimum_age IS NULL OR maximum_age IS NULL OR minimum_age <= maximum_age",
            name=op.f("ck_service_age_range"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_service_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_service_source_source_id")),
    )
    op.create_index(op.f("ix_service_last_modified"), "service", ["last_modified"], unique=False)
    op.create_index(
        op.f("ix_service_organization_id"), "service", ["organization_id"], unique=False
    )
    op.create_table(
        "taxonomy_term",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("term_uri", sa.Text(), nullable=True),
        sa.Column(
            "translations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["taxonomy_term.id"],
            name=op.f("fk_taxonomy_term_parent_id_taxonomy_term"),
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"], ["taxonomy.id"], name=op.f("fk_taxonomy_term_taxonomy_id_taxonomy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy_term")),
        sa.UniqueConstraint("taxonomy_id", "code", name=op.f("uq_taxonomy_term_taxonomy_id_code")),
    )
    op.create_index(
        op.f("ix_taxonomy_term_parent_id"), "taxonomy_term", ["parent_id"], unique=False
    )
    op.create_index(
        op.f("ix_taxonomy_term_taxonomy_id"), "taxonomy_term", ["taxonomy_id"], unique=False
    )
    op.create_table(
        "address",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("attention", sa.Text(), nullable=True),
        sa.Column("address_1", sa.Text(), nullable=False),
        sa.Column("address_2", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("state_province", sa.Text(), nullable=False),
        sa.Column("postal_code", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("address_type", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_address_location_id_location")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address")),
    )
    op.create_index(op.f("ix_address_location_id"), "address", ["location_id"], unique=False)
    op.create_table(
        "attribute",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("link_type", sa.Text(), nullable=True),
        sa.Column("link_entity", sa.Text(), nullable=False),
        sa.Column("taxonomy_term_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["taxonomy_term_id"],
            ["taxonomy_term.id"],
            name=op.f("fk_attribute_taxonomy_term_id_taxonomy_term"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute")),
        sa.UniqueConstraint(
            "link_entity",
            "link_id",
            "taxonomy_term_id",
            name=op.f("uq_attribute_link_entity_link_id_taxonomy_term_id"),
        ),
    )
    op.create_index(op.f("ix_attribute_link_id"), "attribute", ["link_id"], unique=False)
    op.create_index(
        "ix_attribute_term_link",
        "attribute",
        ["taxonomy_term_id", "link_entity", "link_id"],
        unique=False,
    )
    op.create_table(
        "language",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "num_nonnulls(service_id, location_id) = 1", name=op.f("ck_language_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_language_location_id_location")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_language_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_language")),
    )
    op.create_index(op.f("ix_language_location_id"), "language", ["location_id"], unique=False)
    op.create_index(op.f("ix_language_service_id"), "language", ["service_id"], unique=False)
    op.create_table(
        "phone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("extension", sa.Integer(), nullable=True),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "num_nonnulls(organization_id, service_id, location_id) = 1",
            name=op.f("ck_phone_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_phone_location_id_location")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_phone_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_phone_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone")),
    )
    op.create_index(op.f("ix_phone_location_id"), "phone", ["location_id"], unique=False)
    op.create_index(op.f("ix_phone_organization_id"), "phone", ["organization_id"], unique=False)
    op.create_index(op.f("ix_phone_service_id"), "phone", ["service_id"], unique=False)
    op.create_table(
        "schedule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("freq", sa.Text(), nullable=True),
        sa.Column("byday", sa.Text(), nullable=True),
        sa.Column("opens_at", sa.Time(), nullable=True),
        sa.Column("closes_at", sa.Time(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("attending_type", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "num_nonnulls(service_id, location_id) = 1", name=op.f("ck_schedule_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_schedule_location_id_location")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_schedule_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
    )
    op.create_index(op.f("ix_schedule_location_id"), "schedule", ["location_id"], unique=False)
    op.create_index(op.f("ix_schedule_service_id"), "schedule", ["service_id"], unique=False)
    op.create_table(
        "service_area",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "extent",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("admin_area_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["admin_area_id"],
            ["admin_area.id"],
            name=op.f("fk_service_area_admin_area_id_admin_area"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_service_area_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_area")),
    )
    op.create_index(
        "ix_service_area_extent", "service_area", ["extent"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        op.f("ix_service_area_service_id"), "service_area", ["service_id"], unique=False
    )
    op.create_table(
        "service_at_location",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("region_key", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_service_at_location_location_id_location"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_service_at_location_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_at_location")),
        sa.UniqueConstraint(
            "service_id", "location_id", name=op.f("uq_service_at_location_service_id_location_id")
        ),
    )
    op.create_index(
        op.f("ix_service_at_location_location_id"),
        "service_at_location",
        ["location_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_at_location_region_key"),
        "service_at_location",
        ["region_key"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_at_location_service_id"),
        "service_at_location",
        ["service_id"],
        unique=False,
    )
    op.create_table(
        "service_capacity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "updated", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("available >= 0", name=op.f("ck_service_capacity_available")),
        sa.CheckConstraint(
            "maximum IS NULL OR maximum >= available", name=op.f("ck_service_capacity_maximum")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_service_capacity_service_id_service")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_service_capacity_unit_id_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_capacity")),
        sa.UniqueConstraint(
            "service_id", "unit_id", name=op.f("uq_service_capacity_service_id_unit_id")
        ),
    )
    op.create_index(
        op.f("ix_service_capacity_service_id"), "service_capacity", ["service_id"], unique=False
    )
    op.add_column("organization", sa.Column("alternate_name", sa.Text(), nullable=True))
    op.add_column(
        "organization", sa.Column("description", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("organization", sa.Column("email", sa.Text(), nullable=True))
    op.add_column("organization", sa.Column("website", sa.Text(), nullable=True))
    op.add_column(
        "organization", sa.Column("visibility", sa.Text(), server_default="public", nullable=False)
    )
    op.add_column(
        "organization",
        sa.Column(
            "translations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("organization", sa.Column("source", sa.Text(), nullable=True))
    op.add_column("organization", sa.Column("source_id", sa.Text(), nullable=True))
    op.add_column(
        "organization",
        sa.Column(
            "last_modified",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column(
        "organization", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_index(
        op.f("ix_organization_last_modified"), "organization", ["last_modified"], unique=False
    )
    op.create_unique_constraint(
        op.f("uq_organization_source_source_id"), "organization", ["source", "source_id"]
    )

    op.create_check_constraint(
        op.f("ck_organization_visibility"),
        "organization",
        "visibility IN ('public', 'partners', 'confidential')",
    )

    for table in (
        "service",
        "location",
        "service_at_location",
        "address",
        "phone",
        "schedule",
        "service_area",
        "language",
        "attribute",
        "service_capacity",
        "admin_area",
    ):
        grant_to_app(table, "SELECT, INSERT, UPDATE, DELETE")
    # Reference data and history: the API reads them and appends, never rewrites.
    for table in ("taxonomy", "taxonomy_term", "unit", "metadata"):
        grant_to_app(table, "SELECT, INSERT")

    taxonomy = sa.table(
        "taxonomy",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.Text()),
        sa.column("description", sa.Text()),
        sa.column("uri", sa.Text()),
        sa.column("version", sa.Text()),
    )
    term = sa.table(
        "taxonomy_term",
        sa.column("id", sa.Uuid()),
        sa.column("taxonomy_id", sa.Uuid()),
        sa.column("code", sa.Text()),
        sa.column("name", sa.Text()),
        sa.column("description", sa.Text()),
        sa.column("language", sa.Text()),
        sa.column("translations", postgresql.JSONB()),
    )
    unit = sa.table("unit", sa.column("id", sa.Uuid()), sa.column("name", sa.Text()))
    op.bulk_insert(
        taxonomy,
        [
            {
                "id": RELAY_TAXONOMY_ID,
                "name": "Relay referral needs",
                "description": "What a person referred through Relay needs: the referral pathway's "
                "categories, from emergency police response to helplines.",
                "uri": "urn:relay:taxonomy:referral-needs",
                "version": "1",
            }
        ],
    )
    op.bulk_insert(
        term,
        [
            {
                "id": uuid.uuid5(RELAY_TAXONOMY_ID, code),
                "taxonomy_id": RELAY_TAXONOMY_ID,
                "code": code,
                "name": english,
                "description": description,
                "language": "en",
                "translations": {"fr": {"name": french}},
            }
            for code, english, french, description in REFERRAL_NEEDS
        ],
    )
    op.bulk_insert(
        unit,
        [{"id": uuid.uuid5(RELAY_TAXONOMY_ID, f"unit:{name}"), "name": name} for name in UNITS],
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_organization_visibility"), "organization", type_="check")
    op.drop_constraint(op.f("uq_organization_source_source_id"), "organization", type_="unique")
    op.drop_index(op.f("ix_organization_last_modified"), table_name="organization")
    op.drop_column("organization", "version")
    op.drop_column("organization", "last_modified")
    op.drop_column("organization", "source_id")
    op.drop_column("organization", "source")
    op.drop_column("organization", "translations")
    op.drop_column("organization", "visibility")
    op.drop_column("organization", "website")
    op.drop_column("organization", "email")
    op.drop_column("organization", "description")
    op.drop_column("organization", "alternate_name")
    op.drop_index(op.f("ix_service_capacity_service_id"), table_name="service_capacity")
    op.drop_table("service_capacity")
    op.drop_index(op.f("ix_service_at_location_service_id"), table_name="service_at_location")
    op.drop_index(op.f("ix_service_at_location_region_key"), table_name="service_at_location")
    op.drop_index(op.f("ix_service_at_location_location_id"), table_name="service_at_location")
    op.drop_table("service_at_location")
    op.drop_index(op.f("ix_service_area_service_id"), table_name="service_area")
    op.drop_index("ix_service_area_extent", table_name="service_area", postgresql_using="gist")
    op.drop_table("service_area")
    op.drop_index(op.f("ix_schedule_service_id"), table_name="schedule")
    op.drop_index(op.f("ix_schedule_location_id"), table_name="schedule")
    op.drop_table("schedule")
    op.drop_index(op.f("ix_phone_service_id"), table_name="phone")
    op.drop_index(op.f("ix_phone_organization_id"), table_name="phone")
    op.drop_index(op.f("ix_phone_location_id"), table_name="phone")
    op.drop_table("phone")
    op.drop_index(op.f("ix_language_service_id"), table_name="language")
    op.drop_index(op.f("ix_language_location_id"), table_name="language")
    op.drop_table("language")
    op.drop_index("ix_attribute_term_link", table_name="attribute")
    op.drop_index(op.f("ix_attribute_link_id"), table_name="attribute")
    op.drop_table("attribute")
    op.drop_index(op.f("ix_address_location_id"), table_name="address")
    op.drop_table("address")
    op.drop_index(op.f("ix_taxonomy_term_taxonomy_id"), table_name="taxonomy_term")
    op.drop_index(op.f("ix_taxonomy_term_parent_id"), table_name="taxonomy_term")
    op.drop_table("taxonomy_term")
    op.drop_index(op.f("ix_service_organization_id"), table_name="service")
    op.drop_index(op.f("ix_service_last_modified"), table_name="service")
    op.drop_table("service")
    op.drop_index(op.f("ix_location_region_key"), table_name="location")
    op.drop_index("ix_location_point", table_name="location", postgresql_using="gist")
    op.drop_index(op.f("ix_location_organization_id"), table_name="location")
    op.drop_index(op.f("ix_location_last_modified"), table_name="location")
    op.drop_index(op.f("ix_location_admin_area_id"), table_name="location")
    op.drop_table("location")
    op.drop_table("unit")
    op.drop_table("taxonomy")
    op.drop_index("ix_metadata_resource", table_name="metadata")
    op.drop_table("metadata")
    op.drop_index(op.f("ix_admin_area_parent_id"), table_name="admin_area")
    op.drop_index(op.f("ix_admin_area_level"), table_name="admin_area")
    op.drop_index("ix_admin_area_geom", table_name="admin_area", postgresql_using="gist")
    op.drop_table("admin_area")
