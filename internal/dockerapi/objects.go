package dockerapi

import (
	"net/http"
	"net/netip"
	"strconv"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

// Configs, secrets and networks: Docker's shapes over shoal's objects.
// A secret's data never leaves, as in Swarm.

func (s *Server) listConfigs(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "id", "label", "name", "names")
	if err != nil {
		s.fail(w, err)
		return
	}
	list, err := s.c.ConfigList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []swarm.Config{}
	for _, c := range list {
		if f.matchPrefix("id", c.ID) && f.matchPrefix("name", c.Spec.Name) && f.match("names", c.Spec.Name) && f.matchLabels(c.Spec.Labels) {
			out = append(out, configOut(c))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func configOut(c *api.Config) swarm.Config {
	return swarm.Config{ID: c.ID, Meta: metaOut(c.Meta),
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Spec.Name, Labels: nonNil(c.Spec.Labels)}, Data: c.Spec.Data}}
}

func (s *Server) createConfig(w http.ResponseWriter, r *http.Request) {
	var spec swarm.ConfigSpec
	if err := decode(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	if spec.Templating != nil && spec.Templating.Name != "" {
		s.fail(w, badf("shoal does not support config templating (Templating.Name=%s)", spec.Templating.Name))
		return
	}
	c, err := s.c.ConfigCreate(r.Context(), api.ConfigSpec{Name: spec.Name, Labels: spec.Labels, Data: spec.Data})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: c.ID})
}

func (s *Server) inspectConfig(w http.ResponseWriter, r *http.Request) {
	c, err := s.c.ConfigInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, configOut(c))
}

func (s *Server) removeConfig(w http.ResponseWriter, r *http.Request) {
	if err := s.c.ConfigRemove(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func secretOut(c *api.Secret) swarm.Secret {
	return swarm.Secret{ID: c.ID, Meta: metaOut(c.Meta),
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: c.Spec.Name, Labels: nonNil(c.Spec.Labels)}}}
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "id", "label", "name", "names")
	if err != nil {
		s.fail(w, err)
		return
	}
	list, err := s.c.SecretList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []swarm.Secret{}
	for _, c := range list {
		if f.matchPrefix("id", c.ID) && f.matchPrefix("name", c.Spec.Name) && f.match("names", c.Spec.Name) && f.matchLabels(c.Spec.Labels) {
			out = append(out, secretOut(c))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createSecret(w http.ResponseWriter, r *http.Request) {
	var spec swarm.SecretSpec
	if err := decode(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	switch {
	case spec.Driver != nil && spec.Driver.Name != "":
		s.fail(w, badf("shoal does not support secret drivers (Driver.Name=%s): secrets are kept encrypted in the cluster's store", spec.Driver.Name))
		return
	case spec.Templating != nil && spec.Templating.Name != "":
		s.fail(w, badf("shoal does not support secret templating (Templating.Name=%s)", spec.Templating.Name))
		return
	}
	c, err := s.c.SecretCreate(r.Context(), api.SecretSpec{Name: spec.Name, Labels: spec.Labels, Data: spec.Data})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: c.ID})
}

func (s *Server) inspectSecret(w http.ResponseWriter, r *http.Request) {
	c, err := s.c.SecretInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, secretOut(c))
}

func (s *Server) removeSecret(w http.ResponseWriter, r *http.Request) {
	if err := s.c.SecretRemove(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// networkOut converts a shoal network to Docker's swarm-scoped one.
func networkOut(n *api.Network) network.Inspect {
	driver := n.Spec.Driver
	if driver == "" {
		driver = "overlay"
	}
	out := network.Inspect{Network: network.Network{
		Name: n.Spec.Name, ID: n.ID, Created: n.CreatedAt, Scope: "swarm", Driver: driver, EnableIPv4: true,
		Internal: n.Spec.Internal, Attachable: n.Spec.Attachable, Labels: nonNil(n.Spec.Labels), Options: map[string]string{},
		IPAM: network.IPAM{Driver: "default"},
	}, Containers: map[string]network.EndpointResource{}}
	if n.DriverState != nil {
		out.Options["com.docker.network.driver.overlay.vxlanid_list"] = strconv.FormatUint(uint64(n.DriverState.VNI), 10)
	}
	if ipam := n.IPAM; ipam != nil {
		for _, c := range ipam.Config {
			var cfg network.IPAMConfig
			cfg.Subnet, _ = netip.ParsePrefix(c.Subnet)
			cfg.Gateway, _ = netip.ParseAddr(c.Gateway)
			out.IPAM.Config = append(out.IPAM.Config, cfg)
		}
	}
	return out
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "driver", "id", "label", "name", "scope", "type", "dangling")
	if err != nil {
		s.fail(w, err)
		return
	}
	list, err := s.c.NetworkList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []network.Inspect{}
	for _, n := range list {
		d := networkOut(n)
		if f.matchPrefix("id", d.ID) && f.matchPrefix("name", d.Name) && f.match("driver", d.Driver) &&
			f.match("scope", "swarm") && f.match("type", "custom") && f.matchLabels(d.Labels) {
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req network.CreateRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, err)
		return
	}
	var u unsupported
	u.set(req.Driver != "" && req.Driver != "overlay", "Driver="+req.Driver+" (only overlay)")
	u.set(req.Scope != "" && req.Scope != "swarm", "Scope="+req.Scope+" (only swarm)")
	u.set(req.EnableIPv6 != nil && *req.EnableIPv6, "EnableIPv6")
	u.set(req.Ingress, "Ingress")
	u.set(req.ConfigOnly || req.ConfigFrom != nil, "ConfigOnly/ConfigFrom")
	for k := range req.Options {
		// Docker's own overlay options shoal has no use for.
		u.set(k != "com.docker.network.driver.overlay.vxlanid_list", "Options."+k)
	}
	spec := api.NetworkSpec{Name: req.Name, Labels: req.Labels, Driver: "overlay", Attachable: req.Attachable, Internal: req.Internal}
	if ipam := req.IPAM; ipam != nil {
		u.set(ipam.Driver != "" && ipam.Driver != "default", "IPAM.Driver="+ipam.Driver)
		spec.IPAM = &api.IPAM{}
		for _, c := range ipam.Config {
			u.set(c.IPRange.IsValid() || len(c.AuxAddress) > 0, "IPAM.Config.IPRange/AuxiliaryAddresses")
			ac := api.IPAMConfig{}
			if c.Subnet.IsValid() {
				ac.Subnet = c.Subnet.String()
			}
			if c.Gateway.IsValid() {
				ac.Gateway = c.Gateway.String()
			}
			spec.IPAM.Config = append(spec.IPAM.Config, ac)
		}
	}
	if err := u.err(); err != nil {
		s.fail(w, err)
		return
	}
	n, err := s.c.NetworkCreate(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
}

func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.c.NetworkInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, networkOut(n))
}

func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request) {
	if err := s.c.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
