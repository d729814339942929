public enum NetpollPlaceholder {}
