"""The WSGI entry point gunicorn loads: `upare.wsgi:application`."""

from api.app import create_app
from upare import logs
from upare.bootstrap import bootstrap

logs.configure()
application = create_app(bootstrap())
