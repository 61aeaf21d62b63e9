"""One screen per mode: Library, Search, Ask, Models, Activity; plus dialogs."""
