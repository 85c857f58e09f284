package scimserver

import (
	"net/http"
	"strings"
)

// The discovery endpoints (RFC 7644 §4; RFC 7643 §5-7) describe what the
// server does, from the same schema values that drive it.

func (s *server) discovery(w http.ResponseWriter, r *http.Request, get func(*http.Request) (any, error)) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, "GET")
	}
	if r.URL.Query().Has("filter") {
		// RFC 7644 §4: so that clients cannot assume a filter was applied.
		return errorf(http.StatusForbidden, "", "filtering is not supported on %s", r.URL.Path)
	}
	v, err := get(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) serviceProviderConfig(r *http.Request) (any, error) {
	type supported struct {
		Supported bool `json:"supported"`
	}
	return map[string]any{
		"schemas":        []string{spcSchema},
		"patch":          supported{true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword": supported{false},
		"sort":           supported{false},
		"etag":           supported{false},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "Authorization: Bearer followed by the token set in ROSTER_SCIM_TOKEN.",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     s.base(r) + "/ServiceProviderConfig",
		},
	}, nil
}

func (s *server) resourceTypeDoc(rt *resourceType, base string) map[string]any {
	d := map[string]any{
		"schemas":     []string{rtSchema},
		"id":          rt.Name,
		"name":        rt.Name,
		"endpoint":    rt.Endpoint,
		"description": rt.Core.Description,
		"schema":      rt.Core.ID,
		"meta":        map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + rt.Name},
	}
	if rt.Ext != nil {
		d["schemaExtensions"] = []any{map[string]any{"schema": rt.Ext.ID, "required": false}}
	}
	return d
}

func (s *server) resourceTypes(r *http.Request, id string) (any, error) {
	base := s.base(r)
	if id == "" {
		return discoveryList(s.resourceTypeDoc(s.user, base), s.resourceTypeDoc(s.group, base)), nil
	}
	for _, rt := range []*resourceType{s.user, s.group} {
		if strings.EqualFold(id, rt.Name) {
			return s.resourceTypeDoc(rt, base), nil
		}
	}
	return nil, errorf(http.StatusNotFound, "", "resource type %s not found", id)
}

func schemaDoc(sc schema, base string) map[string]any {
	return map[string]any{
		"schemas":     []string{schemaSchema},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description,
		"attributes":  sc.Attributes,
		"meta":        map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + sc.ID},
	}
}

func (s *server) schemaList() []schema {
	out := []schema{s.user.Core, s.group.Core}
	if s.user.Ext != nil {
		out = append(out, *s.user.Ext)
	}
	return out
}

func (s *server) schemas(r *http.Request, id string) (any, error) {
	base := s.base(r)
	var docs []any
	for _, sc := range s.schemaList() {
		if id == "" {
			docs = append(docs, schemaDoc(sc, base))
		} else if strings.EqualFold(id, sc.ID) {
			return schemaDoc(sc, base), nil
		}
	}
	if id != "" {
		return nil, errorf(http.StatusNotFound, "", "schema %s not found", id)
	}
	return discoveryList(docs...), nil
}

func discoveryList(docs ...any) map[string]any {
	return map[string]any{
		"schemas":      []string{listSchema},
		"totalResults": len(docs),
		"itemsPerPage": len(docs),
		"startIndex":   1,
		"Resources":    docs,
	}
}
