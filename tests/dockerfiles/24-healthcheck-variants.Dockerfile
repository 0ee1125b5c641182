FROM nginx
HEALTHCHECK NONE
HEALTHCHECK CMD curl -f http://localhost/ || exit 1
HEALTHCHECK --interval=5m --timeout=3s CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK --interval=10s --timeout=2s --start-period=30s --start-interval=1s --retries=5 \
    CMD wget --spider -q http://localhost:80/ || exit 1
healthcheck   cmd   ["true"]
