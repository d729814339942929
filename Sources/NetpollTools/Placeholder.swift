public enum NetpollToolsPlaceholder {}
