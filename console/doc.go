// Package console is bootsrv's web console: server-rendered pages, for an
// admin's browser, of what booted, what failed and why.
//
// Pages, under /console/ (the overview also at / when the image store is
// not served at the root):
//
//	/console/                 overview: services and their listeners,
//	                          transfers in flight with progress, the last
//	                          config reload, the counters that matter
//	/console/machines         machines seen (search, pages, boot loops)
//	/console/machines/{id}    one machine's boot timeline (MAC or IP)
//	/console/leases           DHCP leases (search by MAC, IP, host name)
//	/console/uploads          files in the upload area, downloadable here
//	/console/uploads/{name}   one of them, as an attachment
//	/console/explain          what a machine would get, and why
//
// The pages are html/template, the stylesheet and the one small script
// (live refresh of the overview by polling) are embedded: no CDN and no
// build step, since labs are often offline. Lists are paginated and
// searched on the server, so a page costs the same with 10 machines or
// 10,000.
//
// The console reads what it shows through the small interfaces of Sources,
// which cmd/bootsrv fills from the running services, so that it imports no
// protocol package. It is read-only: no page changes anything. Access
// control is the HTTP server's (web, http.users): every console route is
// mounted behind it.
package console
