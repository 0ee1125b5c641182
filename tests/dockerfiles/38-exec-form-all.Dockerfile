FROM alpine
RUN ["apk", "add", "--no-cache", "tini"]
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["/usr/local/bin/app", "--config", "/etc/app/config.yaml"]
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
VOLUME ["/var/lib/app"]
COPY ["app", "/usr/local/bin/app"]
ADD ["https://example.com/file.tar.gz", "/tmp/"]
