FROM redis:7
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD redis-cli ping | grep PONG
FROM postgres:16
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s \
  CMD ["pg_isready", "-U", "postgres"]
