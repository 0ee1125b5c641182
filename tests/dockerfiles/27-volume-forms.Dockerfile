FROM postgres:16
VOLUME ["/var/lib/postgresql/data"]
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/scratch
VOLUME /single
