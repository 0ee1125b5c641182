FROM alpine
	RUN apk add --no-cache git \
		&& git --version
	WORKDIR /src
	COPY	.	.
	CMD	["git", "status"]
