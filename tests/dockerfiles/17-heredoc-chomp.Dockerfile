FROM alpine
RUN <<-EOF
	echo indented with tabs
		echo doubly
    echo spaces stay
	EOF
COPY <<-CONF /etc/app.conf
	key=value
		nested=1
		CONF
