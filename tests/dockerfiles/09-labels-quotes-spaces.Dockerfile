FROM alpine:3.19
LABEL org.opencontainers.image.title="My Service" \
      org.opencontainers.image.description='A service with "quotes" inside' \
      org.opencontainers.image.authors="Jane Doe <jane@example.com>" \
      "com.example.key with spaces"="value with spaces" \
      com.example.escaped=value\ with\ escaped\ spaces \
      com.example.empty="" \
      com.example.equals="a=b=c"
LABEL version=1.0 release=2024-01-01
LABEL multi.word "legacy form value"
