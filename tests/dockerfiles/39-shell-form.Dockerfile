FROM alpine
ENTRYPOINT exec /usr/local/bin/app --flag
CMD echo "hello $USER" && sleep 5
RUN echo 'single' "double" plain
RUN if [ -f /etc/os-release ]; then . /etc/os-release; echo $ID; fi
