package server

// Role is what a user or token may do. Each role may do what the roles
// below it may.
type Role string

const (
	// RoleViewer reads everything but users and other people's tokens.
	RoleViewer Role = "viewer"
	// RoleOperator also runs things: starts, stops, resumes, skips and
	// resets pipelines, runs checks and repairs, runs and pauses jobs.
	RoleOperator Role = "operator"
	// RoleAdmin also defines things: users, data sources and their
	// passwords, pipelines, channels, jobs, alert settings.
	RoleAdmin Role = "admin"
	// rolePublic marks routes that need no credentials.
	rolePublic Role = "public"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// allows reports whether a caller with role r may use a route needing min.
func (r Role) allows(min Role) bool {
	return min == rolePublic || (r.rank() > 0 && r.rank() >= min.rank())
}

// parseRole validates a role named in a request.
func parseRole(field, s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", invalid(field, "%s %q: must be viewer, operator or admin", field, s)
	}
	return r, nil
}
