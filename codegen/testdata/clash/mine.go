package clash

// RegisterChat is the user's own function of the generated name.
func RegisterChat() {}

// ChatPageProxy is the user's own type of the generated name.
type ChatPageProxy struct{}

// chatModule is the user's own constant of the generated name.
const chatModule = "mine"

// Fine is a name the generated code does not use.
var Fine = chatModule
