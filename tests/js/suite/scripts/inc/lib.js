// included helper: declarations must become visible to the including script
function libValue(x) { return x * LIB_FACTOR; }
const LIB_FACTOR = 10;
