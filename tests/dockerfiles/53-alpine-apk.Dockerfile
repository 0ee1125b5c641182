FROM alpine:3.19
RUN apk add --no-cache \
        bash=~5.2 \
        "curl>8" \
        'openssl<4' \
    && apk add --no-cache --virtual .build-deps gcc musl-dev \
    && apk del .build-deps
