"""Relay's lookup pages for protection committees: server-rendered HTML, light and offline-able.

``/lookup`` finds the nearest services for a place and a need, ``/lookup/pathway`` prints the
referral pathway of an area. Every page works without JavaScript (plain GET forms); the script only
adds geolocation, results put in place when a need is ticked (``/lookup/results``), instant
filtering and the offline copies (a service worker): the last pathway viewed, and an area kept on
the phone with its neighbours (``saved_area.py``), searched there when the network is gone.
Nothing is loaded from another host. Templates are in ``templates/``, static files in
``static/``, the interface's words in ``locales/`` (one JSON catalogue per language, English the
reference; ``i18n.py``), the links of a service card in ``links.py``.
"""
