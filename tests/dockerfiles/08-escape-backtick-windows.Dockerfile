# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
ENV APP_HOME=C:\app `
    TOOLS=C:\tools
WORKDIR C:\app
COPY bin\Release\ C:\app\
RUN New-Item -ItemType Directory -Force -Path C:\logs ; `
    Write-Host 'created' ; `
    Get-ChildItem C:\app
RUN echo "a backslash at the end is kept \
ENTRYPOINT ["C:\\app\\service.exe"]
