package dev.ckptdiff.pickle;

import java.util.Set;

/**
 * Which globals a checkpoint pickle may name. Nothing is ever imported or called, so most unknown
 * classes are harmless and come out as named objects; but a pickle that names a code-execution
 * entry point is not a checkpoint, whatever else it holds, and is refused outright.
 */
final class GlobalPolicy {
    private static final Set<String> DENIED_MODULES = Set.of(
            "os", "posix", "nt", "subprocess", "sys", "shutil", "importlib", "runpy", "socket", "pickle",
            "_pickle", "marshal", "ctypes", "code", "codeop", "pty", "webbrowser", "commands", "popen2",
            "signal", "multiprocessing", "asyncio", "threading", "_thread", "builtins.eval", "pdb", "timeit",
            "shelve", "tempfile", "glob", "pathlib", "io", "urllib", "http", "ftplib", "smtplib", "telnetlib",
            "requests", "operator", "functools", "types", "inspect", "gc", "ast", "dill", "cloudpickle");
    private static final Set<String> SAFE_BUILTINS = Set.of(
            "set", "frozenset", "bytearray", "bytes", "slice", "complex", "int", "float", "str", "list",
            "tuple", "dict", "bool", "range", "object", "NoneType", "Ellipsis", "NotImplemented");

    private GlobalPolicy() {
    }

    /** Why this global is refused, or null when it may stand as an inert reference. */
    static String refusal(String module, String name) {
        String top = module.contains(".") ? module.substring(0, module.indexOf('.')) : module;
        if (module.equals("builtins") || module.equals("__builtin__")) {
            return SAFE_BUILTINS.contains(name) ? null
                    : "names " + module + "." + name + ", a builtin that can run code; a checkpoint never does";
        }
        if (DENIED_MODULES.contains(top) || DENIED_MODULES.contains(module)) {
            return "names " + module + "." + name + ", from a module that can run code or touch the system;"
                    + " a checkpoint never does";
        }
        if (name.startsWith("__") && !name.endsWith("__")) {
            return "names private attribute " + module + "." + name;
        }
        return null;
    }
}
