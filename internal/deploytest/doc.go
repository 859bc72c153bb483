// Package deploytest runs the deployment of deploy/ for real, without a
// container runtime: Redis and the three tandem instances of
// deploy/compose.yaml as processes with the environment compose gives them
// (host networking makes the containers exactly that), behind nginx with
// deploy/nginx-cluster.conf; only the ports are moved to free loopback
// ones. It holds tests only.
package deploytest
