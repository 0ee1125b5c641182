FROM alpine
COPY <<one.txt <<two.txt /dest/
first file
one.txt
second file
two.txt
COPY --chmod=755 <<EOF /usr/local/bin/entry.sh
#!/bin/sh
exec "$@"
EOF
ADD <<EOF /etc/added.txt
added by ADD
EOF
