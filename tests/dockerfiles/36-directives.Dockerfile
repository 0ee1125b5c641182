# syntax=docker/dockerfile:1.7-labs
# escape=\
# check=skip=JSONArgsRecommended;error=true
FROM alpine
# escape=`
RUN echo "the escape directive above is just a comment" \
    && echo continued with backslash
