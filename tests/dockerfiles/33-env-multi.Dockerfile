FROM alpine
ENV A=1 B="two words" C='single quoted' D=esc\ aped E= F=""
ENV JAVA_OPTS="-Xms256m -Xmx512m -Dfile.encoding=UTF-8" \
    JAVA_HOME=/opt/java/openjdk \
    PATH="/opt/java/openjdk/bin:${PATH}"
ENV MIXED=a"b c"d'e f'g
