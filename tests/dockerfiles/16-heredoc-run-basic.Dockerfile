# syntax=docker/dockerfile:1
FROM debian:bookworm
RUN <<EOF
set -e
apt-get update
apt-get install -y curl
EOF
RUN <<EOT bash
  echo "running in bash: $BASH_VERSION"
  echo $HOME
EOT
RUN echo before && cat <<EOF > /etc/motd && echo after
Welcome!
EOF
