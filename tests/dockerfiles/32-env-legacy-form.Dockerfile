FROM alpine
ENV PATH /usr/local/bin:$PATH
ENV GREETING hello   wide   world
ENV QUOTED "kept as written"
ENV TRAILING value with trailing spaces   
ENV A=1
