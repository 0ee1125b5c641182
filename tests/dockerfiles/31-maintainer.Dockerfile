FROM debian
MAINTAINER Jane Doe <jane@example.com>
MAINTAINER "John Smith" john@example.org
