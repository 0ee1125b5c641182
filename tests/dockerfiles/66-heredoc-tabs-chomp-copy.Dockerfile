FROM alpine
RUN cat <<-EOF > /etc/conf
	[section]
		key = value
	EOF
RUN <<-'SCRIPT'
	for f in *; do
		echo "$f"
	done
	SCRIPT
