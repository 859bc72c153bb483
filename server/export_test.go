package server

// LoseBridgedVideo makes s's media bridge lose every nth video packet it
// sends from now on (retransmissions included), like a lossy network
// between instances; 0 loses nothing. s must run in cluster mode.
func LoseBridgedVideo(s *Server, every int) {
	s.cluster.media.loseVideo.Store(uint64(every))
}
