// Prints each enum class's constants as Flink matches a configured value against them:
// `ConfigurationUtils.convertToEnum` compares the value with each constant's toString(), in any
// case. One line per class: the class name, a tab, the names separated by tabs; or `!` and the
// reason when the class cannot be loaded. Run by extract-config-keys.py as
// `java -cp flink-dist.jar EnumNames.java CLASS...`.
public class EnumNames {
    public static void main(String[] classes) {
        for (String name : classes) {
            StringBuilder line = new StringBuilder(name);
            try {
                Object[] constants = Class.forName(name).getEnumConstants();
                if (constants == null) {
                    line.append("\t!not an enum");
                }
                for (Object c : constants == null ? new Object[0] : constants) {
                    line.append('\t').append(c.toString());
                }
            } catch (Throwable e) {
                line.append("\t!").append(e);
            }
            System.out.println(line);
        }
    }
}
