module aioweb/client

go 1.19
