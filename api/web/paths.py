"""The addresses of the app's areas (``/app/...``), in one place for their own pages and for the
pages of other areas that send a person there (a report resolved on the directory's pages goes
back to the operator's); the sign-in's and the home page's are ``api/web/session.py``'s."""

ACCOUNT_PATH = "/app/account"
DIRECTORY_PATH = "/app/directory"
OPERATOR_PATH = "/app/operator"
PEOPLE_PATH = "/app/people"
REFER_PATH = "/app/refer"
SENT_PATH = "/app/sent"
