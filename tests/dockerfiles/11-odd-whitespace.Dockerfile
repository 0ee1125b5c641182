FROM	alpine:3.19   

RUN    echo   spaced    out   
  RUN	echo tabbed		
ENV  A=1	 B=2   
EXPOSE 80	443   80809090
LABEL a=b		c=d
   
	
CMD    [ "sh" ,	"-c" , "echo hi" ]   
