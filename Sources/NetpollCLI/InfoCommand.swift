import ArgumentParser

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "(being written)")
    func run() async throws { throw ValidationError("info is not built yet") }
}
