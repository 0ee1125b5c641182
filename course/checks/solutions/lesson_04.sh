#!/bin/sh
# Reference solution of lesson 04's exercises (course/en/lesson-04.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox
cp -r "$repo/examples/seed-app" "$work/ex04-app"
cd "$work/ex04-app"

# 04.1 the seed's recipe
minidocker build -t ex04:v1 .
minidocker build -t ex04:v1 .              # again: every step CACHED
# 04.2 change the application: only COPY and what follows rebuild
sed -i.orig 's/version 1/version 2/' app/server.sh && rm app/server.sh.orig
minidocker build -t ex04:v2 .
# 04.3 a build argument: the step that uses it and everything after rebuild
sed -i.orig 's/version 2/version 1/' app/server.sh && rm app/server.sh.orig
minidocker build -t ex04:rt21 --build-arg RUNTIME_VERSION=21 .
# 04.4 a badly ordered Dockerfile: the application copied before the "installs"
cat > Dockerfile.bad <<'DOCKERFILE'
FROM busybox
WORKDIR /app
COPY app/ /app/
ARG RUNTIME_VERSION=20.11
RUN mkdir -p /usr/local/lib/runtime /usr/local/bin \
 && echo "runtime $RUNTIME_VERSION" > /usr/local/lib/runtime/VERSION \
 && printf '#!/bin/sh\necho "[runtime $(cat /usr/local/lib/runtime/VERSION)] running $1"\nexec sh "$@"\n' > /usr/local/bin/runtime \
 && chmod +x /usr/local/bin/runtime
RUN mkdir -p /var/lib/db \
 && for table in users orders products; do echo "id,name" > /var/lib/db/$table.csv; done \
 && echo "1,alice" >> /var/lib/db/users.csv
ENV APP_GREETING="Hello from the seed app"
CMD ["runtime", "/app/server.sh"]
DOCKERFILE
minidocker build -t ex04:bad -f Dockerfile.bad .
sed -i.orig 's/version 1/version 2/' app/server.sh && rm app/server.sh.orig
minidocker build -t ex04:bad2 -f Dockerfile.bad .
minidocker run --rm ex04:bad2
