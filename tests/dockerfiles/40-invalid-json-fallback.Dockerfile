FROM alpine
CMD [not json]
CMD ["unterminated"
CMD ['single', 'quotes']
RUN [ "trailing", ]
ENTRYPOINT ["a" "b"]
RUN [echo, hi]
VOLUME [/data]
COPY [a b] /dest
CMD ["ok"] trailing text is ignored
CMD []
