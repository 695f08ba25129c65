package server

import (
	"net/http"

	"github.com/sluice-db/sluice/web"
)

// handlerFunc is an API handler: it writes its answer, or returns an error
// that the registry writes in the stable error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// route is one entry of the route registry: every API route, with the
// least role that may call it, is a row here and nowhere else, so that the
// role table in openapi.yaml and the tests can be checked against it.
type route struct {
	Method  string
	Pattern string
	Role    Role
	Handler handlerFunc
}

// routes is the registry.
func (s *Server) routes() []route {
	return []route{
		{"POST", "/api/v1/auth/login", rolePublic, s.login},
		{"POST", "/api/v1/auth/logout", RoleViewer, s.logout},
		{"GET", "/api/v1/me", RoleViewer, s.me},
		{"PUT", "/api/v1/me/password", RoleViewer, s.changeOwnPassword},

		{"GET", "/api/v1/users", RoleAdmin, s.listUsers},
		{"POST", "/api/v1/users", RoleAdmin, s.createUser},
		{"GET", "/api/v1/users/{id}", RoleAdmin, s.getUser},
		{"PATCH", "/api/v1/users/{id}", RoleAdmin, s.updateUser},
		{"DELETE", "/api/v1/users/{id}", RoleAdmin, s.deleteUser},

		{"GET", "/api/v1/tokens", RoleViewer, s.listTokens},
		{"POST", "/api/v1/tokens", RoleViewer, s.createToken},
		{"DELETE", "/api/v1/tokens/{id}", RoleViewer, s.deleteToken},

		{"GET", "/api/v1/data-sources", RoleViewer, s.listDataSources},
		{"POST", "/api/v1/data-sources", RoleAdmin, s.createDataSource},
		{"POST", "/api/v1/data-sources/test", RoleOperator, s.testDataSourceInput},
		{"GET", "/api/v1/data-sources/{name}", RoleViewer, s.getDataSource},
		{"PUT", "/api/v1/data-sources/{name}", RoleAdmin, s.updateDataSource},
		{"DELETE", "/api/v1/data-sources/{name}", RoleAdmin, s.deleteDataSource},
		{"POST", "/api/v1/data-sources/{name}/test", RoleOperator, s.testDataSource},
		{"GET", "/api/v1/data-sources/{name}/tables", RoleViewer, s.listSourceTables},

		{"GET", "/api/v1/pipelines", RoleViewer, s.listPipelines},
		{"POST", "/api/v1/pipelines", RoleAdmin, s.createPipeline},
		{"POST", "/api/v1/pipelines/preview", RoleViewer, s.previewSelection},
		{"GET", "/api/v1/pipelines/{name}", RoleViewer, s.getPipeline},
		{"PUT", "/api/v1/pipelines/{name}", RoleAdmin, s.updatePipeline},
		{"DELETE", "/api/v1/pipelines/{name}", RoleAdmin, s.deletePipeline},
		{"GET", "/api/v1/pipelines/{name}/status", RoleViewer, s.pipelineStatus},
		{"POST", "/api/v1/pipelines/{name}/start", RoleOperator, s.startPipeline},
		{"POST", "/api/v1/pipelines/{name}/stop", RoleOperator, s.stopPipeline},
		{"POST", "/api/v1/pipelines/{name}/resume", RoleOperator, s.resumePipeline},
		{"POST", "/api/v1/pipelines/{name}/skip", RoleOperator, s.skipTransaction},
		{"POST", "/api/v1/pipelines/{name}/reset", RoleOperator, s.resetPipeline},

		{"GET", "/api/v1/channels", RoleViewer, s.listChannels},
		{"POST", "/api/v1/channels", RoleAdmin, s.createChannel},
		{"GET", "/api/v1/channels/{name}", RoleViewer, s.getChannel},
		{"PUT", "/api/v1/channels/{name}", RoleAdmin, s.updateChannel},
		{"DELETE", "/api/v1/channels/{name}", RoleAdmin, s.deleteChannel},
		{"GET", "/api/v1/channels/{name}/pipelines", RoleViewer, s.channelPipelines},
		{"GET", "/api/v1/channels/{name}/topology", RoleViewer, s.channelTopology},

		{"GET", "/api/v1/checks", RoleViewer, s.listChecks},
		{"POST", "/api/v1/checks", RoleOperator, s.runCheck},
		{"GET", "/api/v1/checks/{id}", RoleViewer, s.getCheck},
		{"DELETE", "/api/v1/checks/{id}", RoleAdmin, s.deleteCheck},
		{"GET", "/api/v1/checks/{id}/repair.sql", RoleViewer, s.repairSQL},
		{"POST", "/api/v1/checks/{id}/repair", RoleOperator, s.applyRepair},

		{"GET", "/api/v1/jobs", RoleViewer, s.listJobs},
		{"POST", "/api/v1/jobs", RoleAdmin, s.createJob},
		{"POST", "/api/v1/jobs/preview", RoleViewer, s.previewSchedule},
		{"GET", "/api/v1/jobs/{id}", RoleViewer, s.getJob},
		{"PUT", "/api/v1/jobs/{id}", RoleAdmin, s.updateJob},
		{"DELETE", "/api/v1/jobs/{id}", RoleAdmin, s.deleteJob},
		{"POST", "/api/v1/jobs/{id}/pause", RoleOperator, s.pauseJob},
		{"POST", "/api/v1/jobs/{id}/resume", RoleOperator, s.resumeJob},
		{"POST", "/api/v1/jobs/{id}/run", RoleOperator, s.runJobNow},
		{"GET", "/api/v1/jobs/{id}/next", RoleViewer, s.nextFires},
		{"GET", "/api/v1/jobs/{id}/runs", RoleViewer, s.jobRuns},
		{"GET", "/api/v1/runs/{id}", RoleViewer, s.getRun},
		{"POST", "/api/v1/runs/{id}/cancel", RoleOperator, s.cancelRun},

		{"GET", "/api/v1/alerts/settings", RoleViewer, s.getAlertSettings},
		{"PUT", "/api/v1/alerts/settings", RoleAdmin, s.putAlertSettings},
		{"POST", "/api/v1/alerts/test", RoleAdmin, s.testAlert},

		{"GET", "/api/v1/nodes", RoleViewer, s.listNodes},
		{"GET", "/api/v1/events", RoleViewer, s.streamEvents},
	}
}

// registerRoutes puts every route of the registry on the mux behind
// authentication, CSRF and role checks, and answers unknown /api/ paths
// in the API's error shape.
func (s *Server) registerRoutes() {
	for _, rt := range s.routes() {
		s.Mux.Handle(rt.Method+" "+rt.Pattern, s.guard(rt))
	}
	s.Mux.Handle("/api/", s.guard(route{Role: RoleViewer, Handler: func(w http.ResponseWriter, r *http.Request, _ *principal) error {
		return notFound("no API route %s %s; see /openapi.yaml", r.Method, r.URL.Path)
	}}))
	s.Mux.HandleFunc("GET /openapi.yaml", s.openAPI)
	s.Mux.Handle("GET /metrics", s.metrics.handler(s.Config.MetricsToken))
	// The console (package web): its files, and index.html for its routes.
	s.Mux.Handle("/", web.Handler())
}

// guard wraps a route: credentials (401), CSRF for cookie sessions (403),
// role (403), then the handler; errors become the stable error shape.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		var p *principal
		if rt.Role != rolePublic {
			var err error
			if p, err = s.authenticate(r); err != nil {
				s.writeError(w, r, err)
				return
			}
			if p.Via == viaSession && unsafeMethod(r.Method) && !p.csrfOK(r) {
				s.writeError(w, r, errorf(http.StatusForbidden, codeCSRF,
					"missing or wrong %s header: send the value of the %s cookie (also returned as csrf_token by /api/v1/me) with every POST, PUT, PATCH and DELETE", csrfHeader, csrfCookie))
				return
			}
			if !p.Role.allows(rt.Role) {
				s.writeError(w, r, errorf(http.StatusForbidden, codePermissionDenied,
					"%s %s needs the %s role; you are %s (%s)", r.Method, r.URL.Path, rt.Role, p.User.Username, p.Role))
				return
			}
		}
		if err := rt.Handler(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}
