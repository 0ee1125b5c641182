FROM alpine
LABEL maintainer="team@example.com" \
      org.label-schema.schema-version="1.0" \
      org.label-schema.build-date="2024-01-01T00:00:00Z" \
      org.label-schema.name="service" \
      org.label-schema.vcs-url="https://github.com/example/service" \
      org.label-schema.vcs-ref="abcdef0" \
      org.label-schema.version="1.2.3"
