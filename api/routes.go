package api

import (
	"context"
	"io/fs"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
)

// Every route of assistd's HTTP side, in one place. Who may reach a route is said where it is
// declared: client(...) takes the client-area token (ASSISTD_API_TOKEN); staff(...) acts as one
// active member (their own token, or the service token naming them: caller.go) and reaches only
// their departments; manage(...) is for the service token alone or an admin member;
// customerPage(...) a customer's session cookie, which names the customer (never the URL);
// staffPage(...) a console session of an active member. The JSON paths are those of
// api/openapi.yaml.

// routes declares the API server's routes.
func (s *Server) routes() {
	client, staff, manage := s.requireClient, s.staffAPI(actsAsMember), s.staffAPI(manages)
	replies := s.staffAPI(managesOwn)
	m := s.mux

	// JSON API of the client area: one customer's profile and tickets, scoped by {cid}.
	m.Handle("PUT /api/v1/customers/{cid}", client(s.putCustomer))
	m.Handle("GET /api/v1/subjects", client(s.searchSubjects))
	m.Handle("POST /api/v1/customers/{cid}/tickets", client(s.createTicket))
	m.Handle("GET /api/v1/customers/{cid}/tickets", client(s.history))
	m.Handle("GET /api/v1/customers/{cid}/tickets/{number}", client(s.customerTicket))
	m.Handle("POST /api/v1/customers/{cid}/tickets/{number}/messages", client(s.postCustomerMessage))
	m.Handle("POST /api/v1/customers/{cid}/tickets/{number}/close", client(s.postCustomerClose))
	m.Handle("POST /api/v1/customers/{cid}/sessions/revoke", client(s.revokeCustomerSessions))
	m.Handle("GET /api/v1/customers/{cid}/export", client(s.exportCustomer))
	// Attachments: uploads (multipart) used once by a message, and downloads scoped as tickets.
	m.Handle("POST /api/v1/customers/{cid}/uploads", client(s.postCustomerUpload))
	m.Handle("GET /api/v1/customers/{cid}/tickets/{number}/attachments/{aid}", client(s.customerDownload))
	m.Handle("DELETE /api/v1/customers/{cid}", client(s.eraseCustomer))

	// JSON API of staff: queues, tickets, answers and status changes, the audited password
	// reveal, and the mail room (the inbound import log, emails that could not be delivered).
	m.Handle("GET /api/v1/departments", staff(s.departments))
	m.Handle("GET /api/v1/departments/{dept}/queue", staff(s.departmentQueue))
	m.Handle("GET /api/v1/staff/search", staff(s.staffSearch))
	m.Handle("GET /api/v1/staff/tickets/{number}", staff(s.staffTicket))
	m.Handle("POST /api/v1/staff/tickets/{number}/messages", staff(s.postStaffMessage))
	m.Handle("POST /api/v1/staff/tickets/{number}/status", staff(s.postStatus))
	m.Handle("POST /api/v1/staff/tickets/{number}/password/reveal", staff(s.revealPassword))
	m.Handle("POST /api/v1/staff/uploads", staff(s.postStaffUpload))
	m.Handle("GET /api/v1/staff/tickets/{number}/attachments/{aid}", staff(s.staffDownload))
	m.Handle("GET /api/v1/staff/inbound", manage(s.inbound))
	m.Handle("GET /api/v1/staff/emails/failed", manage(s.failedEmails))
	// Members and their credentials: the portal (service token) or an admin.
	m.Handle("GET /api/v1/staff/members", manage(s.listMembers))
	m.Handle("GET /api/v1/staff/members/{sid}", manage(s.getMember))
	m.Handle("PUT /api/v1/staff/members/{sid}", manage(s.putMember))
	m.Handle("GET /api/v1/staff/members/{sid}/tokens", manage(s.listMemberTokens))
	m.Handle("POST /api/v1/staff/members/{sid}/tokens", manage(s.addMemberToken))
	m.Handle("DELETE /api/v1/staff/members/{sid}/tokens/{id}", manage(s.revokeMemberToken))
	m.Handle("POST /api/v1/staff/members/{sid}/sessions/revoke", manage(s.revokeStaffSessions))
	// Service levels: a department's policy (setting it is an admin's, or the service token's),
	// and the response-time report.
	m.Handle("PUT /api/v1/staff/departments/{dept}/sla", manage(s.putPolicy))
	m.Handle("GET /api/v1/staff/departments/{dept}/sla", manage(s.getPolicy))
	// The daily work beside answers: internal notes, priority, transfers, saved replies (written
	// by a department's leads, an admin or the service token; read by its members).
	m.Handle("POST /api/v1/staff/tickets/{number}/notes", staff(s.postNote))
	m.Handle("POST /api/v1/staff/tickets/{number}/priority", staff(s.postPriority))
	m.Handle("POST /api/v1/staff/tickets/{number}/department", staff(s.postTransfer))
	m.Handle("POST /api/v1/staff/tickets/{number}/assignee", staff(s.postAssignee))
	m.Handle("PUT /api/v1/staff/departments/{dept}/settings", manage(s.putSettings))
	m.Handle("GET /api/v1/staff/departments/{dept}/settings", manage(s.getSettings))
	m.Handle("GET /api/v1/staff/tickets/{number}/replies", staff(s.ticketReplies))
	m.Handle("GET /api/v1/staff/departments/{dept}/replies", replies(s.listReplies))
	m.Handle("PUT /api/v1/staff/departments/{dept}/replies/{id}", replies(s.putReply))
	m.Handle("DELETE /api/v1/staff/departments/{dept}/replies/{id}", replies(s.deleteReply))
	m.Handle("GET /api/v1/staff/reports/response-times", staff(s.responseTimes))

	m.HandleFunc("GET /api/v1/openapi.yaml", serveOpenAPI)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "No such endpoint.", nil)
	})

	// Client-area pages: a customer signs in with a portal link and sees only their own tickets.
	static, _ := fs.Sub(staticFiles, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/tickets", http.StatusSeeOther) })
	m.HandleFunc("GET /login", s.login)
	m.HandleFunc("POST /login", s.loginForm)
	m.HandleFunc("POST /logout", s.logout)
	m.Handle("POST /logout/everywhere", s.customerPage(s.logoutEverywhere))
	m.Handle("GET /tickets", s.customerPage(s.historyPage))
	m.Handle("GET /tickets/new", s.customerPage(s.newTicketPage))
	m.Handle("POST /tickets/new", s.customerPage(s.submitTicketForm))
	m.Handle("GET /tickets/{number}", s.customerPage(s.customerTicketPage))
	m.Handle("GET /tickets/{number}/confirmation", s.customerPage(s.confirmationPage))
	m.Handle("POST /tickets/{number}/reply", s.customerPage(s.customerReplyForm))
	m.Handle("POST /tickets/{number}/close", s.customerPage(s.customerCloseForm))
	m.Handle("GET /tickets/{number}/attachments/{aid}", s.customerPage(s.customerDownloadPage))
	m.HandleFunc("GET /tickets/{number}/{form}", toTicketPage("/tickets/"))

	// The staff console.
	m.HandleFunc("GET /staff/login", s.staffLoginPage)
	m.HandleFunc("POST /staff/login", s.staffLoginForm)
	s.oidcRoutes(m) // the company's identity provider, when configured
	m.Handle("POST /staff/logout", s.staffPage(s.staffLogout))
	m.Handle("GET /staff", s.staffPage(s.staffIndexPage))
	m.Handle("GET /staff/departments/{dept}", s.staffPage(s.staffQueuePage))
	m.Handle("GET /staff/tickets", s.staffPage(s.staffFindTicket))
	m.Handle("GET /staff/search", s.staffPage(s.staffSearchPage))
	m.Handle("GET /staff/tickets/{number}", s.staffPage(s.staffTicketPage))
	m.Handle("POST /staff/tickets/{number}/password/reveal", s.staffPage(s.staffRevealForm))
	m.Handle("POST /staff/tickets/{number}/answer", s.staffPage(s.staffAnswerForm))
	m.Handle("POST /staff/tickets/{number}/status", s.staffPage(s.staffStatusForm))
	m.Handle("GET /staff/tickets/{number}/attachments/{aid}", s.staffPage(s.staffDownloadPage))
	m.Handle("POST /staff/tickets/{number}/notes", s.staffPage(s.staffNoteForm))
	m.Handle("POST /staff/tickets/{number}/priority", s.staffPage(s.staffPriorityForm))
	m.Handle("POST /staff/tickets/{number}/department", s.staffPage(s.staffTransferForm))
	m.Handle("POST /staff/tickets/{number}/assignee", s.staffPage(s.staffAssignForm))
	m.Handle("GET /staff/mine", s.staffPage(s.staffMine))
	m.Handle("GET /staff/departments/{dept}/replies", s.staffPage(s.staffReplies))
	m.Handle("POST /staff/departments/{dept}/replies", s.staffPage(s.staffReplyForm))
	m.Handle("POST /staff/departments/{dept}/replies/{id}/delete", s.staffPage(s.staffReplyDeleteForm))
	m.Handle("GET /staff/departments/{dept}/sla", s.staffPage(s.staffPolicyPage))
	m.Handle("POST /staff/departments/{dept}/sla", s.staffPage(s.staffPolicyForm))
	m.Handle("GET /staff/reports", s.staffPage(s.staffReportPage))
	m.HandleFunc("GET /staff/tickets/{number}/{form...}", toTicketPage("/staff/tickets/"))

	m.HandleFunc("/", s.pageNotFound)

	// Operations: liveness and readiness without a token; the Prometheus metrics tell business
	// volume, so here they are for staff only (open on the ops address, OpsHandler).
	s.opsRoutes(m, s.staffOnly(metricsHandler()))
}

// opsRoutes declares /healthz, /readyz and /metrics.
func (s *Server) opsRoutes(m *http.ServeMux, metrics http.Handler) {
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", metrics)
}

func metricsHandler() http.Handler {
	return promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})
}

// MountOps serves an operations dashboard (QueueDashboard) at OpsQueuesPath, for staff only:
// the staff bearer token, HTTP Basic with the staff token as password (what a browser can
// send), or a staff session. Changes made from the dashboard (retry, delete, pause) must come
// from the dashboard's own origin.
func (s *Server) MountOps(dashboard http.Handler) {
	guarded := http.NewCrossOriginProtection().Handler(s.requireStaff(dashboard))
	s.mux.Handle(OpsQueuesPath, guarded)
	s.mux.Handle(OpsQueuesPath+"/", guarded)
}

// MountDemo adds the demo's mail page (assistd demo only).
func (s *Server) MountDemo(box DemoMailbox) {
	s.mux.HandleFunc("GET /demo/mail", demoMail(box))
	// The form has no session to carry a CSRF token: the browser's Sec-Fetch-Site and Origin
	// headers keep other sites from posting it.
	s.mux.Handle("POST /demo/mail/reply", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.demoReply(box))))
}

// OpsHandler serves /healthz, /readyz and /metrics alone: what a process without the api role
// (a worker, a poller) shows its operators. Its tasks' counters (emails sent and failed, tasks
// by type, passwords destroyed, grouped statements) exist only in that process, so only its own
// /metrics can show them.
func OpsHandler(store *storage.Store, redisReady func(context.Context) error) http.Handler {
	s := &Server{store: store, redisReady: redisReady}
	m := http.NewServeMux()
	s.opsRoutes(m, metricsHandler())
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "This process serves only /healthz, /readyz and /metrics.", nil)
	})
	return m
}
