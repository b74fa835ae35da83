"""The WSGI entry point gunicorn loads: `upare.wsgi:application`."""

from api.app import create_app
from upare import logs
from upare.bootstrap import bootstrap

logs.configure()
# `upare serve` made the tables; a worker boots even while the database is down
application = create_app(bootstrap(install=False))
