FROM alpine
ENV HOME=/home/app APP_DIR=/srv/app
WORKDIR /
WORKDIR $HOME/app
WORKDIR ${APP_DIR:-/srv}/current
WORKDIR relative/path
WORKDIR "/quoted path"
