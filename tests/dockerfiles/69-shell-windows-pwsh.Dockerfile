# escape=`
FROM mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022
SHELL ["pwsh", "-NoLogo", "-NoProfile", "-Command"]
RUN $ErrorActionPreference = 'Stop'; `
    Invoke-WebRequest -Uri https://example.com/tool.zip -OutFile tool.zip ; `
    Expand-Archive tool.zip -DestinationPath C:\tool
USER ContainerUser
