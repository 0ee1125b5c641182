FROM alpine
RUN echo one \

    && echo two \
    	
    && echo three
LABEL a=1 \

      b=2
CMD echo done
