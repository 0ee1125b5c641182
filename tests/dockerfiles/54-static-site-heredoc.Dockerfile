FROM nginx:alpine
COPY <<'HTML' /usr/share/nginx/html/index.html
<!doctype html>
<html>
  <head><title>$TITLE is not expanded</title></head>
  <body><h1>Hello</h1></body>
</html>
HTML
COPY <<EOF /etc/nginx/conf.d/gzip.conf
gzip on;
gzip_types text/plain text/css application/json;
EOF
