# escape=`
FROM mcr.microsoft.com/dotnet/sdk:8.0-windowsservercore-ltsc2022 AS build
WORKDIR C:\src
COPY *.csproj .\
RUN dotnet restore
COPY . .
RUN dotnet publish -c Release -o C:\app `
      --no-restore `
      /p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:8.0-nanoserver-ltsc2022
WORKDIR C:\app
COPY --from=build C:\app .
SHELL ["cmd", "/S", "/C"]
ENV ASPNETCORE_URLS=http://+:8080 `
    DOTNET_RUNNING_IN_CONTAINER=true
ENTRYPOINT ["dotnet", "WebApp.dll"]
