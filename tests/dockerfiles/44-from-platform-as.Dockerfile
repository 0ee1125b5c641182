FROM --platform=$BUILDPLATFORM golang:1.22 AS builder
FROM --platform=linux/amd64 alpine:3.19 as runtime
FROM builder
FROM scratch
FROM registry.example.com:5000/team/image@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
