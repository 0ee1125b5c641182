


   
FROM alpine


    RUN echo indented

	
        CMD ["sh"]


