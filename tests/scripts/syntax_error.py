print("before")
def broken(:
    pass
