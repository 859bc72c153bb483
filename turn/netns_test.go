package turn

const netnsRoleEnv = "TANDEM_TURN_NETNS_ROLE"

func runNetnsRole(role string) int { return 2 }
