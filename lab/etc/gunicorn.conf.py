# gunicorn settings shared by the lab's WSGI services (keystone, placement, glance, neutron,
# nova-api). gunicorn reads this file after parsing its own command line.
import sys

# The services parse sys.argv again with oslo.config and reject gunicorn's options: hide them.
del sys.argv[1:]

workers = 1
worker_class = "gthread"
threads = 8
timeout = 300
graceful_timeout = 5
# Nova lists a page of servers' security groups from neutron with every port's device_id in
# one query string: 100 servers make a 4.7 kB request line, over gunicorn's 4094-byte default
# (nova-api answers 500). Apache and uwsgi deployments allow 8 kB or more; the lab allows any.
limit_request_line = 0
# gunicorn 27 opens a control socket in ~/.gunicorn shared by every instance of a user.
control_socket_disable = True


def post_worker_init(worker):
    # neutron 29 reads the Port.port_forwardings backref, which exists only once SQLAlchemy's
    # mappers are configured; until another query has run in the worker, nova's
    # GET /v2.0/ports?fields=... fails with AttributeError (HTTP 500).
    from sqlalchemy import orm

    orm.configure_mappers()
