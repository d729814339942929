import ArgumentParser

struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-server", abstract: "(being written)")
    func run() async throws { throw ValidationError("echo-server is not built yet") }
}
